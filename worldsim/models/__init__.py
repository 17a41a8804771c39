"""Networks: the frame tokenizer, the VideoDiT and its layers, and the text encoders."""

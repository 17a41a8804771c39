"""``worldsim-play``: a local web page to drive the learned world in real time."""

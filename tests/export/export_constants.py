"""Constants the export tests share (a module of its own: `from conftest import` picks
whichever conftest.py was loaded last when several test folders run together)."""

#: MNIST training images the briefly trained export fixtures use
TRAIN_IMAGES = 3000

"""ctstat: validate and roll up ward submissions of the Circular 13/2021/TT-BLĐTBXH child statistics."""

__version__ = "0.1.0"

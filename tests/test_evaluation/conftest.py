import os.path as osp
import sys

# the literal reference port (reference_wsol.py) lives beside the tests
sys.path.insert(0, osp.dirname(__file__))

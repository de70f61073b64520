"""Puts ``tests/`` on ``sys.path`` (pytest's rootdir-relative import mode) so every suite can
import the shared test helpers kept here, such as :mod:`pki`."""

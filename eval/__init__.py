"""Question sets, the fetch script for the external benchmark (eval/fetch.py), fitting scripts."""

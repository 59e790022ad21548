"""The model lab: quantize models, measure perplexity and speed, score apps, compare.

The heavy parts run in a worker process (worker.py, started by worker_client.py) so that
llama.cpp never loads into the GUI process; types.py holds the data every part shares.
"""

"""The MedQuAD benchmark: data and subsets, document ranking, the run, tuning and its command."""

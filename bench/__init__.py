"""The benchmark (`make bench`): our pipeline stage by stage, beside two references."""

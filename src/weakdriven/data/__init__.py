"""Training and test data: chat formatting, the embedded synthetic world, the AM-1.4M loader."""

"""The server side and its proof: the hosted teacher index (`distill index`, `distill serve`) and
`distill device-eval`, which shows that exported-student queries searched in that index give the
PyTorch student's asymmetric mAP."""

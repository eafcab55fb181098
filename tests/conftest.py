import os

# Unit and agent tests must not depend on the developer's environment.
for name in list(os.environ):
    if name.startswith("RENDEZVOUS_"):
        del os.environ[name]

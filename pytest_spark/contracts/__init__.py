"""Contract tests with Pact (CONTRACTS.md): pacts, provider states, the verifier.

Layout: ``pacts.py`` finds and describes pact files, ``states.py`` sets
provider states, ``messages.py`` produces messages from the real outbox,
``verify.py`` runs the Pact verifier (in a child process, under a deadline)
and reads its results. Only the child process and the consumer tests import
pact; a run without contract checks never does.
"""

"""The core job (enrich from keyed state, score, learn one model per tenant, result to a topic),
written idiomatically for the peers: Quix Streams (`quix_job`) and Bytewax (`bytewax_job`)."""

"""The pure core of Rendezvous: model zoo, model slots, deployments, enrichment and the
rendezvous policy. Nothing here imports Faust, so all of it is unit tested without a broker."""

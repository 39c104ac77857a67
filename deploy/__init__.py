"""Running Shopcue beyond one process: the scaled topology (deploy/cluster.py) and its load balancer."""

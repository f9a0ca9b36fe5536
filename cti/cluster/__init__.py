"""Several `cti serve` processes: the AMI consumer lease (Redis), its fencing epoch (database)."""

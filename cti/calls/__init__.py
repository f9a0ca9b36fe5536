"""Calls: the state machine from AMI events to one record per Linkedid."""

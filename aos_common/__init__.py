"""Trust-neutral code shared by every AOSIQ service: nothing here holds a secret."""

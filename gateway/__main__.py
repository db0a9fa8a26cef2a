"""`python -m gateway`: start the gateway."""

from gateway.server import main

if __name__ == "__main__":
    main()

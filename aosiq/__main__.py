from aosiq.cli import main

main()

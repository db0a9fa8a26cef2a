"""The `aosiq` command line: local launcher, migrations, operator tools."""

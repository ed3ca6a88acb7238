"""A script with a main guard."""
import sys


def main(argv: list[str]) -> int:
    # Print the arguments.
    print(argv)
    return 0


# Run when executed, not when imported.
if __name__ == "__main__":
    # Exit with main's status.
    sys.exit(main(sys.argv[1:]))

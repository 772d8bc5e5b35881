from ctstat.cli import main

main()

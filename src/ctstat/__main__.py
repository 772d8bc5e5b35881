from ctstat.cli.commands import main

main()

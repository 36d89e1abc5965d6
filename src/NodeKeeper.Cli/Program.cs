using System.CommandLine;
using NodeKeeper.Cli;

// Before .NET's signal handling starts: see Native.UnignoreSigchld.
NodeKeeper.Daemon.Processes.Native.UnignoreSigchld();
return await NkCommands.RunAsync(args);

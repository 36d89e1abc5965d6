using System.CommandLine;
using NodeKeeper.Cli;

return await NkCommands.RunAsync(args);

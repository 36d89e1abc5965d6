using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Daemon.Apply;

namespace NodeKeeper.Cli;

/// <summary>Reading a config in the CLI (`nk start`, `nk run`): <see cref="ConfigFiles"/>, its errors on stderr.</summary>
public static partial class NkCommands
{
    /// <summary>Reads and validates a config; prints every error as file:line:col and returns null when there is one.</summary>
    internal static NodeKeeperConfig? LoadConfig(string path)
    {
        var loaded = ConfigFiles.Load(path, NkHome.Logs(Home.Current));
        foreach (var line in loaded.Errors) Console.Error.WriteLine(line);
        return loaded.Config;
    }
}

using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>What every part of the daemon shares: its home, the preload's path, the clock, the log.</summary>
public sealed class DaemonContext(string home, TimeProvider clock, ILogger logger)
{
    public string Home { get; } = home;
    public string LogDirectory => Path.Combine(Home, "logs");
    public string PreloadPath => Path.Combine(Home, "preload.js");

    private string? _publicPreload;

    /// <summary>
    /// The preload for an app: the home's copy, or for an app run as another user (who cannot enter the 0700 home) a
    /// copy in a directory of the daemon's own, readable by all: /tmp/nodekeeper-UID (created 0755, used only when it
    /// is a real directory owned by the daemon's user and writable by nobody else).
    /// </summary>
    public string PreloadFor(NodeKeeper.Core.Config.AppSpec spec)
    {
        if (spec.User is null) return PreloadPath;
        lock (this)
        {
            if (_publicPreload is not null && File.Exists(_publicPreload)) return _publicPreload;
            var dir = Path.Combine(Path.GetTempPath(), $"nodekeeper-{Core.Protocol.Uids.Effective()}");
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            var info = new DirectoryInfo(dir);
            if (info.LinkTarget is not null || !Core.Protocol.Uids.OwnedBySelf(dir)
                || (info.UnixFileMode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
                throw new IOException($"{dir} is not a directory of the daemon's own (a link, another owner, or writable by others): remove it");
            var text = File.ReadAllText(PreloadPath);
            var path = Path.Combine(dir, $"preload-{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..16].ToLowerInvariant()}.js");
            var tmp = path + $".{Environment.ProcessId}.tmp";
            File.WriteAllText(tmp, text);
            File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            File.Move(tmp, path, overwrite: true);
            return _publicPreload = path;
        }
    }
    public string SocketPath => Path.Combine(Home, "nk.sock");
    public string PidPath => Path.Combine(Home, "nk.pid");
    public string LockPath => NkHome.Lock(Home);
    public TimeProvider Clock { get; } = clock;
    public ILogger Logger { get; } = logger;
    /// <summary>The [daemon] table in effect (set by the HTTP endpoint as it applies one), kept with the apps in state.json and dump.json; null until one is.</summary>
    public NodeKeeper.Core.Config.DaemonSpec? Daemon { get; set; }
    /// <summary>`nk run`: app log lines also go to the console.</summary>
    public Logs.ConsoleMirror? Mirror { get; init; }

    /// <summary>Raised after any instance changed state.</summary>
    public event Action? Changed;

    public void StateChanged() => Changed?.Invoke();
}

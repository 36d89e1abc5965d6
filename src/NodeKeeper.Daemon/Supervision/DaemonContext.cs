using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>What every part of the daemon shares: its version, its home and the files in it, the clock, the log.</summary>
public sealed class DaemonContext(string home, TimeProvider clock, ILogger logger)
{
    /// <summary>This daemon's version, as `nk ping`, `nk version` and /metrics report it.</summary>
    public static readonly string Version = BuildVersion.Of(typeof(DaemonContext).Assembly);

    public string Home { get; } = home;
    /// <summary>The apps' folders of captured evidence (crash reports, profiles, heap snapshots).</summary>
    public Captures.CaptureStore Captures { get; } = new(home);

    /// <summary>How many instances start at once (see <see cref="NodeKeeper.Core.Supervision.CpuGate"/>).</summary>
    public NodeKeeper.Core.Supervision.CpuGate Starts { get; } = NodeKeeper.Core.Supervision.CpuGate.ForStarts(Processes.SchedStat.Progress, clock);
    /// <summary>How many instances are sent their stop signal at once.</summary>
    public NodeKeeper.Core.Supervision.CpuGate Stops { get; } = NodeKeeper.Core.Supervision.CpuGate.ForStops(Processes.ProcStat.Runnable, clock);
    /// <summary>How many shared-port instances drain at once before their stop signal (a drain mostly waits for its last
    /// connections: as many as start at once).</summary>
    public NodeKeeper.Core.Supervision.CpuGate Drains { get; } = NodeKeeper.Core.Supervision.CpuGate.ForStops(Processes.ProcStat.Runnable, clock,
        NodeKeeper.Core.Supervision.CpuGate.DefaultWidth);
    /// <summary>What the daemon reads in them (summaries cached; one heap snapshot read at a time).</summary>
    public Captures.EvidenceReader Evidence { get; } = new();
    public string LogDirectory => NkHome.Logs(Home);
    public string PreloadPath => NkHome.Preload(Home);

    /// <summary>Where this home's daemon notes its public preload folder, so that it can be found again to be removed.</summary>
    private string PublicPreloadRecord => NkHome.PublicPreloadRecord(Home);

    private string? _publicPreload;

    /// <summary>
    /// The preload for an app: the home's copy, or for an app run as another user (who cannot enter the 0700 home) a
    /// copy readable by all, in a folder of this daemon's own made by mkdtemp in the temp folder, under a name nobody can
    /// take first (a fixed one, /tmp/nodekeeper-UID, made first by another user, blocked every such app), then opened to
    /// 0755: the sticky temp folder lets nobody else rename or remove it, and nobody else may write into it. Removed
    /// when the daemon stops (RemovePublicPreload).
    /// </summary>
    public string PreloadFor(NodeKeeper.Core.Config.AppSpec spec)
    {
        if (spec.User is null) return PreloadPath;
        lock (this)
        {
            if (_publicPreload is not null && File.Exists(_publicPreload)) return _publicPreload;
            RemovePublicPreload(); // one folder at a time: an earlier one whose copy went missing goes
            var dir = Directory.CreateTempSubdirectory("nodekeeper-").FullName;
            File.WriteAllText(PublicPreloadRecord, dir + "\n");
            var path = Path.Combine(dir, Path.GetFileName(PreloadPath));
            File.Copy(PreloadPath, path);
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            return _publicPreload = path;
        }
    }

    /// <summary>
    /// Removes the public preload folder this home's daemon noted: its own when it stops, or, at start, the one a
    /// predecessor that died left behind (its apps loaded their preload when they started, and need it no more). Only
    /// a real folder of the daemon's user named as mkdtemp made it in the temp folder is removed.
    /// </summary>
    public void RemovePublicPreload()
    {
        lock (this)
        {
            _publicPreload = null;
            if (!File.Exists(PublicPreloadRecord)) return;
            var dir = File.ReadAllText(PublicPreloadRecord).Trim();
            var info = new DirectoryInfo(dir);
            if (Path.GetDirectoryName(dir) == Path.TrimEndingDirectorySeparator(Path.GetTempPath()) && info.Name.StartsWith("nodekeeper-", StringComparison.Ordinal)
                && info.Exists && info.LinkTarget is null && Uids.OwnedBySelf(dir))
                info.Delete(recursive: true);
            File.Delete(PublicPreloadRecord);
        }
    }

    public string SocketPath => NkHome.Socket(Home);
    public string PidPath => NkHome.Pid(Home);
    public string LockPath => NkHome.Lock(Home);
    public string DaemonLogPath => NkHome.DaemonLog(Home);
    public string StatePath => NkHome.State(Home);
    public string DumpPath => NkHome.Dump(Home);
    public TimeProvider Clock { get; } = clock;
    public ILogger Logger { get; } = logger;
    /// <summary>The [daemon] table in effect (set by the HTTP endpoint as it applies one), kept with the apps in state.json and dump.json; null until one is.</summary>
    public NodeKeeper.Core.Config.DaemonSpec? Daemon { get; set; }
    /// <summary>`nk run`: app log lines also go to the console.</summary>
    public Logs.ConsoleMirror? Mirror { get; init; }

    /// <summary>The binary this daemon runs from (`nk update` execs it again unless told another).</summary>
    public string StartedFrom { get; init; } = Environment.ProcessPath ?? "";
    /// <summary>Started with --background (detached): so is the image `nk update` execs.</summary>
    public bool Background { get; init; }
    /// <summary>`nk run`: the foreground daemon of a container, which `nk update` refuses.</summary>
    public bool Foreground { get; init; }
    /// <summary>What the previous image handed over (`nk update`), when this image adopted its apps.</summary>
    public HandoverRecord? Inherited { get; init; }
    /// <summary>What the operator must know of the daemon itself (an update that could not adopt); shown by status.</summary>
    public string? Notice { get; set; }
    /// <summary>A takeover is due although state.json names this very pid: an update's new image could not adopt.</summary>
    public bool TakeOverOwnPid { get; init; }

    /// <summary>The fds of the home's lock and of the control socket's listener (`nk update` hands them on).</summary>
    public int LockFd { get; set; } = -1;
    public int ControlFd { get; set; } = -1;

    /// <summary>
    /// Writes state.json now if anything changed since it was last written (set by StateKeeper, which otherwise writes
    /// 100 ms after a change): the control server calls it before it answers a command that changed something, so that
    /// what nk was told runs is on disk for a daemon that takes over after a kill -9.
    /// </summary>
    public Action? SaveState { get; set; }

    /// <summary>Raised after any instance changed state.</summary>
    public event Action? Changed;

    public void StateChanged() => Changed?.Invoke();
}

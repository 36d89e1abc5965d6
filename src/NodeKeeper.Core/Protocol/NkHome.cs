namespace NodeKeeper.Core.Protocol;

/// <summary>
/// Where the daemon of this user lives ($NODEKEEPER_HOME, else ~/.nodekeeper) and the name of every file in it: the
/// CLI and the daemon find each other's files through here alone.
/// </summary>
public static class NkHome
{
    /// <summary>
    /// The home: <paramref name="nodekeeperHome"/> ($NODEKEEPER_HOME) when set, else .nodekeeper in
    /// <paramref name="userFolder"/>. The executables read the environment (<c>Home.Current</c>); Core does not.
    /// </summary>
    public static string Path(string? nodekeeperHome, string userFolder) =>
        !string.IsNullOrEmpty(nodekeeperHome) ? System.IO.Path.GetFullPath(nodekeeperHome) : System.IO.Path.Combine(userFolder, ".nodekeeper");

    public static string Socket(string home) => System.IO.Path.Combine(home, "nk.sock");

    /// <summary>Held by the home's daemon for its whole life: one daemon per home.</summary>
    public static string Lock(string home) => System.IO.Path.Combine(home, "nk.lock");

    /// <summary>The running daemon's pid, for the message of a second daemon that finds the lock taken.</summary>
    public static string Pid(string home) => System.IO.Path.Combine(home, "nk.pid");

    /// <summary>The daemon's own log: what it did and why it ended.</summary>
    public static string DaemonLog(string home) => System.IO.Path.Combine(home, "daemon.log");

    /// <summary>The default folder of the apps' log files.</summary>
    public static string Logs(string home) => System.IO.Path.Combine(home, "logs");

    /// <summary>The running daemon's live state (apps, pids and start times); left behind only by a daemon that died.</summary>
    public static string State(string home) => System.IO.Path.Combine(home, "state.json");

    /// <summary>What `nk save` wrote and `nk resurrect` reads.</summary>
    public static string Dump(string home) => System.IO.Path.Combine(home, "dump.json");

    /// <summary>The script every Node.js instance preloads (written by the daemon at start).</summary>
    public static string Preload(string home) => System.IO.Path.Combine(home, "preload.js");

    /// <summary>Where `nk update`'s hand-over record goes: what one daemon image passes to the next (0600, removed once read).</summary>
    public static string Handover(string home) => System.IO.Path.Combine(home, "handover.json");

    /// <summary>Where the daemon notes the public copy of the preload it made for apps run as another user.</summary>
    public static string PublicPreloadRecord(string home) => System.IO.Path.Combine(home, "preload-dir");
}

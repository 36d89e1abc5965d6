namespace NodeKeeper.Core.Protocol;

/// <summary>Where the daemon of this user lives: $NODEKEEPER_HOME, else ~/.nodekeeper.</summary>
public static class NkHome
{
    public static string Path()
    {
        var env = Environment.GetEnvironmentVariable("NODEKEEPER_HOME");
        if (!string.IsNullOrEmpty(env)) return System.IO.Path.GetFullPath(env);
        var home = Environment.GetEnvironmentVariable("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return System.IO.Path.Combine(home, ".nodekeeper");
    }

    public static string Socket(string home) => System.IO.Path.Combine(home, "nk.sock");

    /// <summary>Held by the home's daemon for its whole life: one daemon per home.</summary>
    public static string Lock(string home) => System.IO.Path.Combine(home, "nk.lock");

    /// <summary>The running daemon's live state (apps, pids and start times); left behind only by a daemon that died.</summary>
    public static string State(string home) => System.IO.Path.Combine(home, "state.json");
}

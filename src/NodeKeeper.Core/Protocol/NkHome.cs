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
}

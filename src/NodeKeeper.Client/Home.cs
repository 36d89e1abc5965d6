namespace NodeKeeper.Client;

/// <summary>This user's NodeKeeper home, from the environment ($NODEKEEPER_HOME, else $HOME or the passwd entry's folder).</summary>
internal static class Home
{
    public static string Current => Core.Protocol.NkHome.Path(Environment.GetEnvironmentVariable("NODEKEEPER_HOME"),
        Environment.GetEnvironmentVariable("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));
}

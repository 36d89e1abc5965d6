namespace NodeKeeper.TestSupport;

/// <summary>
/// Paths of the repository and of the nk binaries under test: tests/.nk, where the build of this library publishes them
/// as users get them (NativeAOT). The repository is found from the running test project's bin/ (the app base of the
/// test host).
/// </summary>
public static class Repo
{
    public static readonly string Root = FindRoot();
    public static string Examples => Path.Combine(Root, "examples");
    public static string Example(string file) => Path.Combine(Examples, file);

    /// <summary>`nk`, the command users type (NodeKeeper.Client): answers status/ls/ping itself, execs nk-full for the rest.</summary>
    public static string Nk => Path.Combine(Root, "tests", ".nk", "nk");

    /// <summary>nk-full (NodeKeeper.Cli): every command, and the daemon.</summary>
    public static string NkFull => Path.Combine(Root, "tests", ".nk", "nk-full");

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "NodeKeeper.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find NodeKeeper.sln above " + AppContext.BaseDirectory);
    }
}

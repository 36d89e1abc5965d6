namespace NodeKeeper.Core.Config;

/// <summary>The Linux signals a config may name in kill_signal, with their numbers.</summary>
public static class Signals
{
    private static readonly Dictionary<string, int> Numbers = new(StringComparer.Ordinal)
    {
        ["SIGHUP"] = 1,
        ["SIGINT"] = 2,
        ["SIGQUIT"] = 3,
        ["SIGABRT"] = 6,
        ["SIGKILL"] = 9,
        ["SIGUSR1"] = 10,
        ["SIGUSR2"] = 12,
        ["SIGALRM"] = 14,
        ["SIGTERM"] = 15,
        ["SIGCONT"] = 18,
        ["SIGSTOP"] = 19,
        ["SIGTSTP"] = 20,
        ["SIGWINCH"] = 28,
    };

    /// <summary>All known names, e.g. "SIGTERM", in signal-number order.</summary>
    public static IReadOnlyList<string> Names { get; } = Numbers.OrderBy(p => p.Value).Select(p => p.Key).ToArray();

    /// <summary>The Linux number of a signal named "SIGTERM" or "TERM" (any case); null when unknown.</summary>
    public static int? Number(string name) =>
        Normalize(name) is { } full ? Numbers[full] : null;

    /// <summary>The canonical name ("SIGTERM") of "SIGTERM", "TERM" or "term"; null when unknown.</summary>
    public static string? Normalize(string name)
    {
        if (string.IsNullOrWhiteSpace(name)) return null;
        var upper = name.Trim().ToUpperInvariant();
        if (!upper.StartsWith("SIG", StringComparison.Ordinal)) upper = "SIG" + upper;
        return Numbers.ContainsKey(upper) ? upper : null;
    }

    /// <summary>
    /// The name of signal <paramref name="number"/> as Linux (x86-64 and arm64) numbers them, also of those a config may
    /// not name: a process that died of signal 11 died of SIGSEGV, which the exit classifier tells from a kill from
    /// outside. "SIG40" for a real-time signal.
    /// </summary>
    public static string NameOf(int number) => number is >= 1 and <= 31 ? LinuxNames[number - 1] : $"SIG{number}";

    private static readonly string[] LinuxNames =
    [
        "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV",
        "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN",
        "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
    ];
}

using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Import;

/// <summary>What `nk import --check` needs to know of this machine, passed in so the check stays pure.</summary>
public sealed record MachineFacts
{
    public Func<string, bool> FileExists { get; init; } = _ => true;
    public Func<string, bool> DirectoryExists { get; init; } = _ => true;
    /// <summary>Where a program named without a folder is on PATH, or null.</summary>
    public Func<string, string?> Which { get; init; } = _ => null;
    /// <summary>Whether a file may be executed (an x bit).</summary>
    public Func<string, bool> IsExecutable { get; init; } = _ => true;
    /// <summary>Who holds a TCP port now ("pid 123 (node)", or "another process"), or null when it is free.</summary>
    public Func<int, string?> PortHolder { get; init; } = _ => null;
    public Func<string, bool> UserExists { get; init; } = _ => true;
}

/// <summary>
/// `nk import --check`: what would keep each app of a loaded config from starting on this machine: a missing script,
/// cwd or env_file, a program or interpreter not found or not executable, a port someone holds, an unknown user. One
/// line per problem, naming the app and what to do; empty when every app would start. Starts nothing.
/// </summary>
public static class ImportCheck
{
    public static IReadOnlyList<string> Problems(NodeKeeperConfig config, MachineFacts m)
    {
        var problems = new List<string>();
        foreach (var app in config.Apps)
        {
            void Say(string what) => problems.Add($"app {TomlText.String(app.Name)}: {what}");
            if (!m.DirectoryExists(app.Cwd)) Say($"cwd {app.Cwd} does not exist: create it or fix cwd");
            switch (app.Program)
            {
                case ProgramKind.Executable:
                    Program(app.Script, "script", Say, m);
                    break;
                default:
                    Program(app.Interpreter, "interpreter", Say, m);
                    if (!m.FileExists(app.Script)) Say($"script {app.Script} does not exist: deploy it there, or fix script (or cwd)");
                    break;
            }
            if (app.EnvFile is { } envFile && !m.FileExists(envFile)) Say($"env_file {envFile} does not exist");
            if (app.User is { } user && !m.UserExists(user)) Say($"user {TomlText.String(user)} does not exist on this machine");
            if (app.Port is { } port)
            {
                var ports = app.PortMode == PortMode.Increment ? Enumerable.Range(port, app.Instances) : [port];
                foreach (var p in ports)
                    if (m.PortHolder(p) is { } holder) Say($"port {p} is taken by {holder}: stop it, or change port");
            }
        }
        return problems;
    }

    /// <summary>A program by path (it must exist and be executable) or by name (it must be on PATH).</summary>
    private static void Program(string program, string key, Action<string> say, MachineFacts m)
    {
        if (!program.Contains('/'))
        {
            if (m.Which(program) is null) say($"{key} {TomlText.String(program)} is not on PATH here: install it, or give its path");
            return;
        }
        if (!m.FileExists(program)) say($"{key} {program} does not exist");
        else if (!m.IsExecutable(program)) say($"{key} {program} is not executable: chmod +x it, or give it an interpreter");
    }
}

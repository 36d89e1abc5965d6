using NodeKeeper.Core.Protocol;
using System.CommandLine;
using System.Text;
using NodeKeeper.Core.Startup;

namespace NodeKeeper.Cli;

/// <summary>`nk startup [--install]`: prints (or writes) a systemd unit that runs `nk daemon` at boot.</summary>
public static class StartupCommand
{
    public static Command Build()
    {
        var install = new Option<bool>("--install")
        {
            Description = $"write the unit: {SystemdUnit.SystemUnitPath} as root, else a user unit in ~/.config/systemd/user",
        };
        var force = new Option<bool>("--force") { Description = "with --install: replace an existing, different unit file" };
        var path = new Option<string?>("--path")
        {
            Description = "with --install: write the unit to this file instead (for tests, or to review it before moving it in place)",
        };
        var cmd = new Command("startup",
            "print a systemd unit that runs nk daemon at boot for this user and NODEKEEPER_HOME (--install writes it)") { install, force, path };
        cmd.SetAction(p => Run(p.GetValue(install), p.GetValue(force), p.GetValue(path)));
        return cmd;
    }

    private static int Run(bool install, bool force, string? path)
    {
        if (!install && (force || path is not null))
        {
            Console.Error.WriteLine("nk: --force and --path go with --install (e.g. nk startup --install --path ./nodekeeper.service)");
            return NkCommands.Usage;
        }
        var root = Environment.IsPrivilegedProcess;
        // Printed, the unit is a system unit (run as this user) to install with sudo; installed by a user other
        // than root, it is a unit of that user's own systemd manager.
        var userUnit = install && !root;
        var nk = NkCommand();
        if (nk is null)
        {
            Console.Error.WriteLine("nk: cannot tell the path of the running nk executable");
            return NkCommands.Failed;
        }
        var (user, group) = root ? ("root", "root") : (Environment.UserName, GroupName());
        var home = Home.Current;
        var options = new SystemdUnitOptions
        {
            Nk = nk, Home = home, UserUnit = userUnit, User = user, Group = group,
            SearchPath = Environment.GetEnvironmentVariable("PATH"),
        };
        if (SystemdUnit.Check(options) is { } problem)
        {
            Console.Error.WriteLine($"nk: {problem}");
            return NkCommands.Usage;
        }
        var text = SystemdUnit.Generate(options);
        if (!install)
        {
            Console.Out.Write(text);
            return NkCommands.Ok;
        }

        var target = Path.GetFullPath(path ?? (root
            ? SystemdUnit.SystemUnitPath
            : SystemdUnit.UserUnitPath(Environment.GetEnvironmentVariable("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile),
                Environment.GetEnvironmentVariable("XDG_CONFIG_HOME"))));
        try
        {
            if (File.Exists(target))
            {
                if (File.ReadAllText(target) == text) Console.Error.WriteLine($"nk: {target} is already this unit");
                else if (!force)
                {
                    Console.Error.WriteLine($"nk: {target} exists and differs from this unit: review it, then run again with --force to replace it");
                    return NkCommands.Failed;
                }
            }
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            // The daemon creates its home at start, but systemd enters WorkingDirectory before that.
            Directory.CreateDirectory(home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var temp = target + ".nk-tmp";
            // Written beside the target and renamed over it: a unit file is never seen half written.
            try
            {
                File.WriteAllText(temp, text, new UTF8Encoding(false));
                File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
                File.Move(temp, target, overwrite: true);
            }
            finally
            {
                if (File.Exists(temp)) File.Delete(temp);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The runtime's messages are resource keys in this build (UseSystemResourceKeys): say it in words.
            var why = ex is UnauthorizedAccessException ? "permission denied" : ex.Message;
            Console.Error.WriteLine($"nk: cannot write {target}: {why}{(root ? "" : " (a system unit needs root: sudo nk startup --install)")}");
            return NkCommands.Failed;
        }
        Console.Error.WriteLine($"nk: wrote {target}; now run:");
        foreach (var c in SystemdUnit.EnableCommands(userUnit)) Console.Error.WriteLine($"  {c}");
        if (userUnit)
            Console.Error.WriteLine($"nk: and, so that it starts at boot without a login: loginctl enable-linger {user}");
        return NkCommands.Ok;
    }

    /// <summary>
    /// The running nk: its executable (NativeAOT or apphost), or under `dotnet nk.dll` the dotnet host and the dll,
    /// which sits next to this assembly (AppContext.BaseDirectory; Assembly.Location is empty in a single-file app).
    /// </summary>
    private static List<string>? NkCommand()
    {
        if (Environment.ProcessPath is not { } exe) return null;
        if (Path.GetFileNameWithoutExtension(exe) != "dotnet") return [exe];
        var dll = Path.Combine(AppContext.BaseDirectory, typeof(StartupCommand).Assembly.GetName().Name + ".dll");
        return File.Exists(dll) ? [exe, dll] : null;
    }

    /// <summary>The name of the primary group (from /proc and /etc/group), or its number when it has none there.</summary>
    private static string? GroupName()
    {
        try
        {
            var gidLine = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Gid:", StringComparison.Ordinal));
            var gid = gidLine?.Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(2); // real, effective, …
            if (gid is null) return null;
            foreach (var line in File.ReadLines("/etc/group"))
            {
                var f = line.Split(':');
                if (f.Length >= 3 && f[2] == gid) return f[0];
            }
            return gid;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return null; }
    }
}

using System.Diagnostics;
using System.Text.RegularExpressions;

namespace NodeKeeper.IntegrationTests;

/// <summary>`nk startup`: the systemd unit it prints, checked by systemd-analyze where there is one, and --install.</summary>
public sealed class StartupTests
{
    /// <summary>Section → key=value pairs, as systemd reads a unit (comments and blank lines dropped).</summary>
    private static Dictionary<string, List<KeyValuePair<string, string>>> ParseIni(string text)
    {
        var sections = new Dictionary<string, List<KeyValuePair<string, string>>>();
        List<KeyValuePair<string, string>>? current = null;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';') continue;
            if (line[0] == '[')
            {
                line.Should().EndWith("]");
                sections.Should().NotContainKey(line[1..^1]);
                sections[line[1..^1]] = current = [];
                continue;
            }
            current.Should().NotBeNull($"\"{line}\" comes after a section header");
            var eq = line.IndexOf('=');
            eq.Should().BePositive($"\"{line}\" is key=value");
            current!.Add(new(line[..eq], line[(eq + 1)..]));
        }
        return sections;
    }

    private static string One(Dictionary<string, List<KeyValuePair<string, string>>> unit, string section, string key) =>
        unit[section].Where(kv => kv.Key == key).Select(kv => kv.Value).Should().ContainSingle($"one {key}= in [{section}]").Subject;

    private static string? OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    /// <summary>Issue 13 (9): a newline in PATH (or NODEKEEPER_HOME) added a line of its own to the unit, run as root at boot.</summary>
    [Fact]
    public async Task A_newline_in_PATH_is_refused_and_no_unit_is_printed()
    {
        await using var home = new TestHome();
        var path = "/usr/bin:/bin\nExecStartPre=/bin/sh -c 'id > /tmp/owned'";

        var r = await home.RunWithAsync(["/usr/bin/env", "PATH=" + path, Repo.Nk], "startup");

        r.Code.Should().Be(2, r.ToString());
        r.Out.Should().BeEmpty("no unit is printed");
        r.Err.Trim().Should().Be("nk: PATH contains a control character (U+000A) at position 14: it cannot go into a unit file (each line of which systemd reads as a setting)");
    }

    [Fact]
    public async Task The_printed_unit_runs_this_nk_as_this_user_for_this_home()
    {
        await using var home = new TestHome();
        var r = await home.OkAsync("startup");
        r.Err.Should().BeEmpty();
        var unit = ParseIni(r.Out);
        unit.Keys.Should().Equal("Unit", "Service", "Install");

        One(unit, "Unit", "After").Should().Be("network-online.target");
        One(unit, "Unit", "Wants").Should().Be("network-online.target");
        One(unit, "Service", "Type").Should().Be("notify");
        One(unit, "Service", "NotifyAccess").Should().Be("main");
        One(unit, "Service", "User").Should().Be(Environment.UserName);
        unit["Service"].Should().Contain(new KeyValuePair<string, string>("Environment", "NODEKEEPER_HOME=" + home.Home));
        One(unit, "Service", "WorkingDirectory").Should().Be(home.Home);
        One(unit, "Service", "KillMode").Should().Be("mixed");
        One(unit, "Service", "TimeoutStopSec").Should().Be("60");
        One(unit, "Service", "Restart").Should().Be("always");
        One(unit, "Service", "RestartSec").Should().Be("2");
        One(unit, "Service", "LimitNOFILE").Should().Be("1048576");
        One(unit, "Install", "WantedBy").Should().Be("multi-user.target");

        var execStart = One(unit, "Service", "ExecStart");
        execStart.Should().Be(Repo.NkFull + " daemon");
        One(unit, "Service", "ExecReload").Should().Be(Repo.NkFull + " reload all");
        One(unit, "Service", "ExecStartPost").Should().Be("-" + Repo.NkFull + " resurrect --no-wait");
        var exe = execStart.Split(' ')[0];
        File.Exists(exe).Should().BeTrue(exe);
        File.GetUnixFileMode(exe).HasFlag(UnixFileMode.UserExecute).Should().BeTrue($"{exe} is executable");

        // systemd's own parser, where this machine has it: no unknown key, no bad value, executables that exist.
        if (OnPath("systemd-analyze") is { } analyze)
        {
            var dir = Path.Combine(home.Configs, "unit");
            Directory.CreateDirectory(dir);
            var file = Path.Combine(dir, "nodekeeper.service");
            await File.WriteAllTextAsync(file, r.Out);
            var psi = new ProcessStartInfo(analyze, ["verify", file]) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = await p.StandardOutput.ReadToEndAsync();
            await p.WaitForExitAsync();
            var said = stdout + await stderr;
            p.ExitCode.Should().Be(0, $"systemd-analyze verify accepts the unit:\n{said}\n{r.Out}");
            said.Should().NotContainAny(["Unknown key", "Failed to parse", "ignoring"]);
        }
    }

    [Fact]
    public async Task Install_writes_the_unit_says_what_to_run_and_replaces_a_different_one_only_with_force()
    {
        await using var home = new TestHome();
        await using var other = new TestHome();
        var file = Path.Combine(home.Configs, "systemd", "nodekeeper.service");

        var r = await home.OkAsync("startup", "--install", "--path", file);
        r.Out.Should().BeEmpty();
        r.Err.Should().Contain(file);
        r.Err.Should().MatchRegex(@"systemctl (--user )?daemon-reload").And.MatchRegex(@"systemctl (--user )?enable --now nodekeeper");
        var written = await File.ReadAllTextAsync(file);
        var unit = ParseIni(written);
        unit["Service"].Should().Contain(new KeyValuePair<string, string>("Environment", "NODEKEEPER_HOME=" + home.Home));
        One(unit, "Service", "ExecStart").Should().Be(Repo.NkFull + " daemon");
        One(unit, "Install", "WantedBy").Should().Be(Environment.IsPrivilegedProcess ? "multi-user.target" : "default.target");
        if (Environment.IsPrivilegedProcess) written.Should().Be((await home.OkAsync("startup")).Out);
        else unit["Service"].Should().NotContain(kv => kv.Key == "User");
        Directory.Exists(home.Home).Should().BeTrue("systemd enters WorkingDirectory before the daemon could create it");

        // The same unit again: fine.
        (await home.OkAsync("startup", "--install", "--path", file)).Err.Should().Contain("already");

        // Another home's unit does not silently replace it.
        var refused = await other.RunAsync("startup", "--install", "--path", file);
        refused.Code.Should().Be(1, refused.ToString());
        refused.Err.Should().Contain("--force");
        Regex.Matches(refused.Err.Trim(), "\n").Should().BeEmpty("the error is one line");
        (await File.ReadAllTextAsync(file)).Should().Be(written);

        var forced = await other.OkAsync("startup", "--install", "--force", "--path", file);
        forced.Err.Should().Contain("systemctl");
        (await File.ReadAllTextAsync(file)).Should().Contain("NODEKEEPER_HOME=" + other.Home).And.NotBe(written);

        // --path and --force belong to --install.
        (await home.RunAsync("startup", "--path", file)).Code.Should().Be(2);
    }
}

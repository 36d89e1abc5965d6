using System.Diagnostics;

namespace NodeKeeper.ReliabilityTests;

/// <summary>
/// The files a root daemon touches for a `user` app (its logs, its env file), when they lie in a folder that app's
/// user controls: a link or a hard link planted there never makes the daemon write or read a file of root's.
/// </summary>
public sealed class UserFileTests
{
    private static readonly string[] Nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

    /// <summary>The app's own folder (owned by uid 65534), and a root-only folder beside it with nothing in it yet.</summary>
    private sealed record Folders(string App, string RootOnly)
    {
        public static Folders In(TestHome home)
        {
            if (Environment.UserName != "root") throw new InvalidOperationException("this test needs root: the daemon runs the app as uid 65534");
            var app = Directory.CreateDirectory(Path.Combine(home.Configs, "app")).FullName;
            File.SetUnixFileMode(app, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            Chown(app);
            var rootOnly = Directory.CreateDirectory(Path.Combine(home.Configs, "root-only")).FullName;
            File.SetUnixFileMode(rootOnly, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            return new Folders(app, rootOnly);
        }
    }

    [Fact]
    public async Task A_user_app_that_swaps_its_log_for_a_link_while_the_daemon_rotates_gets_no_root_file_written()
    {
        await using var home = new TestHome();
        var dirs = Folders.In(home);
        var log = Path.Combine(dirs.App, "out.log");
        var target = Path.Combine(dirs.RootOnly, "cron-job");
        // The app writes fast enough for a rotation every few milliseconds and, once its log was rotated, puts a link to
        // root's folder in place of it as often as it can: the daemon opens the log again right after each rotation.
        var script = Path.Combine(dirs.App, "swapper.js");
        File.WriteAllText(script, """
            const fs = require('fs');
            const [log, target] = process.argv.slice(2);
            const line = '* * * * * root touch /tmp/owned ' + 'x'.repeat(60);
            setInterval(() => { for (let i = 0; i < 40; i++) console.log(line); }, 1);
            setInterval(() => {
              if (!fs.existsSync(log + '.1')) return; // from the first rotation on
              for (let i = 0; i < 20; i++) {
                try { fs.unlinkSync(log); } catch {}
                try { fs.symlinkSync(target, log); } catch {}
              }
            }, 0);
            """);
        var config = home.WriteConfig($$"""
            [[app]]
            name = "s"
            script = "{{script}}"
            args = ["{{log}}", "{{target}}"]
            user = "nobody"
            log = { out = "{{log}}", max_size = "2K", keep = 2 }
            """);
        await home.OkAsync("start", config);

        // The daemon meets the link, says so and does not follow it; meanwhile the race runs on.
        var described = await Eventually.Until(() => home.DescribeAsync("s"), d => d.LogProblem?.Contains("is a link") == true || File.Exists(target),
            TimeSpan.FromSeconds(60), "the daemon to meet the planted link after a rotation");
        File.Exists(target).Should().BeFalse("the daemon never creates a file through a link in the app's folder");
        described.LogProblem.Should().Be($"cannot write {log}: {log} is a link in {dirs.App}, a folder another user can change (owner uid 65534, mode 0755): refused");
        // Named, not followed: a rotation may have moved a planted link there, which leads nowhere; and the app may have
        // removed the log just before the last rotation, which then moved .1 on to .2 with nothing to take its place.
        Directory.GetFileSystemEntries(dirs.App).Should().Contain(e => e == log + ".1" || e == log + ".2", "the log was rotated on the way");
        Directory.EnumerateFileSystemEntries(dirs.RootOnly).Should().BeEmpty();
        (await home.InstanceAsync("s")).Status.Should().Be("online", "a refused log costs the app nothing");
    }

    [Fact]
    public async Task A_link_or_a_hard_link_left_for_a_user_apps_logs_across_kill_and_resurrect_is_not_written_through()
    {
        await using var home = new TestHome();
        var dirs = Folders.In(home);
        var outLog = Path.Combine(dirs.App, "w.out.log");
        var errLog = Path.Combine(dirs.App, "w.err.log");
        var script = Path.Combine(dirs.App, "both.js");
        File.WriteAllText(script, "setInterval(() => { console.log('to out'); console.error('to err'); }, 50);\n");
        var config = home.WriteConfig($$"""
            [[app]]
            name = "w"
            script = "{{script}}"
            user = "nobody"
            log = { out = "{{outLog}}", err = "{{errLog}}" }
            """);
        await home.OkAsync("start", config);
        await Eventually.Until(() => Task.FromResult(File.Exists(errLog) ? File.ReadAllText(errLog) : ""), t => t.Contains("to err"),
            TimeSpan.FromSeconds(15), "the app's first lines");
        await home.OkAsync("save");
        await home.OkAsync("kill");

        // While no daemon runs (as at boot), the app's user leaves a link where its out log was, and a hard link to a
        // root-owned file where its err log was (which fs.protected_hardlinks stops the user making: root makes it here).
        var target = Path.Combine(dirs.RootOnly, "cron-job");
        var rootFile = Path.Combine(dirs.RootOnly, "root-owned");
        File.WriteAllText(rootFile, "root's\n");
        File.Delete(outLog);
        File.Delete(errLog);
        (await Run([.. Nobody, "ln", "-s", target, outLog])).Should().Be(0);
        new FileInfo(outLog).LinkTarget.Should().Be(target);
        Link(rootFile, errLog);

        await home.OkAsync("resurrect");
        var daemonLog = Path.Combine(home.Home, "daemon.log");
        var refusals = new[]
        {
            $"Cannot write app log {outLog} ({outLog} is a link in {dirs.App}, a folder another user can change (owner uid 65534, mode 0755): refused)",
            $"Cannot write app log {errLog} ({errLog} has 2 names (hard links) in {dirs.App}, a folder another user can change (owner uid 65534, mode 0755): refused)",
        };
        await Eventually.Until(() => Task.FromResult(File.ReadAllText(daemonLog)), t => refusals.All(t.Contains),
            TimeSpan.FromSeconds(30), "the daemon to refuse both planted names");
        File.Exists(target).Should().BeFalse("the daemon never creates a file through the link");
        File.ReadAllText(rootFile).Should().Be("root's\n", "a hard link to root's file is never appended to");
        (await home.InstanceAsync("w")).Status.Should().Be("online", "a refused log costs the app nothing");
    }

    [Fact]
    public async Task An_env_file_swapped_for_a_link_to_a_root_only_file_is_refused_by_reload_and_by_resurrect()
    {
        await using var home = new TestHome();
        var dirs = Folders.In(home);
        var secret = Path.Combine(dirs.RootOnly, "secret.env");
        File.WriteAllText(secret, "ROOT_SECRET=only-root-may-read-this\n");
        var envFile = Path.Combine(dirs.App, ".env");
        File.WriteAllText(envFile, "APP_SETTING=1\n");
        Chown(envFile);
        var config = home.WriteConfig(TestHome.App("e", "worker.js", $"user = \"nobody\"\nenv_file = \"{envFile}\""));
        await home.OkAsync("start", config);
        var pid = (await home.InstanceAsync("e")).Pid!.Value;
        Procs.Environ(pid).Should().ContainKey("APP_SETTING");
        await home.OkAsync("save");

        // The app's user puts a link to root's secret in place of its env file.
        File.Delete(envFile);
        (await Run([.. Nobody, "ln", "-s", secret, envFile])).Should().Be(0);
        new FileInfo(envFile).LinkTarget.Should().Be(secret);

        var reload = await home.RunAsync("reload", "e");
        reload.Code.Should().NotBe(0, reload.ToString());
        reload.Err.Should().Contain($"env_file \"{envFile}\" cannot be read: {envFile} is a link in {dirs.App}, a folder another user can change (owner uid 65534, mode 0755): refused");
        reload.Err.Should().NotContain("only-root-may-read-this");
        (await home.InstanceAsync("e")).Pid.Should().Be(pid, "a refused reload changes nothing");

        await home.OkAsync("kill");
        var resurrect = await home.RunAsync("resurrect");
        (resurrect.Out + resurrect.Err).Should().Contain($"app e: cannot read env_file: {envFile} is a link in {dirs.App}");
        (resurrect.Out + resurrect.Err).Should().NotContain("only-root-may-read-this");
        foreach (var p in Procs.OwnedBy(home.Home))
            Procs.Environ(p).Should().NotContainKey("ROOT_SECRET", "no process of this home got root's secret");
    }

    private static void Chown(string path)
    {
        using var p = Process.Start("chown", ["65534:65534", path])!;
        p.WaitForExit();
        p.ExitCode.Should().Be(0, $"chown {path}");
    }

    private static void Link(string existing, string name)
    {
        using var p = Process.Start("ln", [existing, name])!;
        p.WaitForExit();
        p.ExitCode.Should().Be(0, $"ln {existing} {name}");
    }

    private static async Task<int> Run(string[] command)
    {
        using var p = Process.Start(command[0], command[1..])!;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await p.WaitForExitAsync(cts.Token);
        return p.ExitCode;
    }
}

namespace NodeKeeper.IntegrationTests;

/// <summary>`user`: a daemon running as root runs the app as that user; the daemon still writes its logs.</summary>
public sealed class UserTests
{
    [Fact]
    public async Task An_app_with_user_runs_under_that_uid_and_its_logs_are_written_by_the_daemon()
    {
        if (Environment.UserName != "root") throw new InvalidOperationException("this test needs root, as the daemon needs root to run apps as another user");
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("w", "worker.js", "user = \"nobody\""));
        await home.OkAsync("start", config);
        var pid = (await home.InstanceAsync("w")).Pid!.Value;
        await Procs.UntilRunsAsync(pid, "node");
        var status = File.ReadAllLines($"/proc/{pid}/status");
        status.Single(l => l.StartsWith("Uid:")).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1..].Should().OnlyContain(u => u == "65534");
        status.Single(l => l.StartsWith("Gid:")).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1..].Should().OnlyContain(g => g == "65534");
        Procs.Environ(pid)["USER"].Should().Be("nobody");
        // The app's lines reach a file in the daemon's 0700 home, which the app's user cannot even enter.
        await home.WaitForLogAsync("w", "worker");
        new DirectoryInfo(home.Home).UnixFileMode.Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>
    /// Issue 13 (8): the copy of the preload for `user` apps went to /tmp/nodekeeper-UID, a name anyone could take
    /// first, which blocked every `user` app. It now goes to a folder made by mkdtemp, removed when the daemon stops
    /// (or, after a daemon that died, when its successor starts). The temp folder here is the test's own (TMPDIR), so
    /// that squatting the old name blocks no other daemon on this machine.
    /// </summary>
    [Fact]
    public async Task A_folder_squatted_at_the_old_preload_name_does_not_block_user_apps_and_no_preload_folder_is_left_behind()
    {
        if (Environment.UserName != "root") throw new InvalidOperationException("this test needs root, as the daemon needs root to run apps as another user");
        var home = new TestHome();
        var tmp = Directory.CreateDirectory(home.Home + "-tmp").FullName;
        try
        {
            File.SetUnixFileMode(tmp, (UnixFileMode)0x3FF | UnixFileMode.StickyBit); // 1777, as /tmp
            var squatted = Path.Combine(tmp, "nodekeeper-0");
            (await home.RunWithAsync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "mkdir", squatted])).Code.Should().Be(0);
            string[] nk = ["env", $"TMPDIR={tmp}/", Repo.Nk];
            var config = home.WriteConfig(TestHome.App("w", "worker.js", "user = \"nobody\"\nmin_uptime = \"500ms\""));
            string[] PreloadFolders() => Directory.GetDirectories(tmp, "nodekeeper-*").Where(d => d != squatted).ToArray();

            var start = await home.RunWithAsync(nk, "start", config);
            start.Code.Should().Be(0, start.ToString());
            var app = await home.WaitForAsync("w", i => i.Status == "online", "online as nobody");
            await Procs.UntilRunsAsync(app.Pid!.Value, "node"); // online at spawn, before setpriv has exec'd node
            File.ReadAllLines($"/proc/{app.Pid}/status").Single(l => l.StartsWith("Uid:")).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1..]
                .Should().OnlyContain(u => u == "65534");
            var first = PreloadFolders().Should().ContainSingle("the daemon made one folder for the preload").Subject;
            File.ReadAllText($"/proc/{app.Pid}/cmdline").Split('\0').Should().Contain(Path.Combine(first, "preload.js"));
            new DirectoryInfo(first).UnixFileMode.Should().Be((UnixFileMode)0x1ED, "0755: readable by the app's user, writable by the daemon alone");
            Directory.GetFileSystemEntries(squatted).Should().BeEmpty("the squatted folder is not used");

            // A daemon that dies leaves its folder; the next one removes it when it starts.
            var daemon = home.DaemonPid()!.Value;
            Procs.Signal(daemon, 9, home.Home);
            await Eventually.Until(() => !Procs.IsAlive(daemon), TimeSpan.FromSeconds(10), "the daemon to die");
            Directory.Exists(first).Should().BeTrue("a daemon killed with SIGKILL removes nothing");
            (await home.RunWithAsync(nk, "status")).Code.Should().Be(0);
            Directory.Exists(first).Should().BeFalse("the successor removes the folder of the daemon that died");
            var restart = await home.RunWithAsync(nk, "restart", "w");
            restart.Code.Should().Be(0, restart.ToString());
            var second = PreloadFolders().Should().ContainSingle().Subject;
            second.Should().NotBe(first);

            // A daemon that stops removes its own.
            (await home.RunWithAsync(nk, "kill")).Code.Should().Be(0);
            PreloadFolders().Should().BeEmpty("the daemon removed its preload folder when it stopped");
            Directory.Exists(squatted).Should().BeTrue("another user's folder is left alone");
        }
        finally
        {
            await home.DisposeAsync(); // first: a daemon left running could make the folder again
            Directory.Delete(tmp, recursive: true);
        }
    }
}

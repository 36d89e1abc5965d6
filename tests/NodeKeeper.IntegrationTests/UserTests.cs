using NodeKeeper.IntegrationTests.Support;

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
        var status = File.ReadAllLines($"/proc/{pid}/status");
        status.Single(l => l.StartsWith("Uid:")).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1..].Should().OnlyContain(u => u == "65534");
        status.Single(l => l.StartsWith("Gid:")).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1..].Should().OnlyContain(g => g == "65534");
        Procs.Environ(pid)["USER"].Should().Be("nobody");
        // The app's lines reach a file in the daemon's 0700 home, which the app's user cannot even enter.
        await home.WaitForLogAsync("w", "worker");
        new DirectoryInfo(home.Home).UnixFileMode.Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}

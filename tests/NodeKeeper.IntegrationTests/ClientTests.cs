using System.Diagnostics;
using System.Text.Json;
using NodeKeeper.Client;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.IntegrationTests;

/// <summary>
/// `nk` answers status, ls and ping itself and execs nk-full for everything else: both paths must say the same.
/// </summary>
public sealed class ClientTests
{
    [Theory]
    [InlineData(new[] { "ping" }, "ping", new string[0], false)]
    [InlineData(new[] { "status" }, "status", new string[0], false)]
    [InlineData(new[] { "ls", "--json" }, "status", new string[0], true)]
    [InlineData(new[] { "status", "api", "--json", "worker" }, "status", new[] { "api", "worker" }, true)]
    [InlineData(new[] { "status", "all" }, "status", new[] { "all" }, false)]
    public void Fast_path_takes_status_ls_and_ping(string[] args, string cmd, string[] names, bool json)
    {
        var ask = FastPath.Parse(args);
        ask.Should().NotBeNull();
        ask!.Cmd.Should().Be(cmd);
        ask.Names.Should().Equal(names);
        ask.Json.Should().Be(json);
    }

    [Theory] // the arguments, separated by '|'
    [InlineData("")]
    [InlineData("start")]
    [InlineData("describe|api")]
    [InlineData("ping|extra")]
    [InlineData("status|--help")]
    [InlineData("status|-h")]
    [InlineData("status|-?")]
    [InlineData("status|--")]
    [InlineData("status|--json|--json")]
    [InlineData("status|--jsn")]
    [InlineData("status|@args.rsp")]
    [InlineData("status|")]
    [InlineData("--version")]
    [InlineData("Status")]
    public void Everything_else_goes_to_nk_full(string args) =>
        FastPath.Parse(args.Length == 0 ? [] : args.Split('|')).Should().BeNull();

    [Fact]
    public async Task Nk_answers_status_ls_and_ping_exactly_as_nk_full_does()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("w", "worker.js", "instances = 2\nenv = { TICK_MS = \"200\" }") + TestHome.App("q", "worker.js"));
        await home.OkAsync("start", config);

        var fast = await home.OkAsync("status", "--json");
        var full = await home.RunFullAsync("status", "--json");
        full.Code.Should().Be(0, full.ToString());
        static IEnumerable<object> Key(string json) => JsonSerializer.Deserialize(json, ProtocolJson.Default.ListInstanceInfo)!
            .Select(i => new { i.Name, i.Instance, i.Pid, i.Status, i.Restarts, i.Port, i.PortMode }); // not the sampled metrics: they may change between the two calls
        fast.Out.Should().EndWith("\n");
        Key(fast.Out).Should().Equal(Key(full.Out), "the same rows, in the same order");
        fast.Err.Should().BeEmpty();

        var table = await home.OkAsync("ls", "w");
        var fullTable = await home.RunFullAsync("ls", "w");
        var lines = table.Out.TrimEnd('\n').Split('\n');
        var fullLines = fullTable.Out.TrimEnd('\n').Split('\n');
        lines.Should().HaveCount(3, table.Out).And.HaveSameCount(fullLines);
        // The same columns; their widths follow the sampled metrics (memory, open files), which may change between the calls.
        static string[] Words(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Words(lines[0]).Should().Equal(Words(fullLines[0]), "the same header").And.Contain("files");
        lines.Skip(1).Select(l => string.Join(' ', Words(l).Take(4)))
            .Should().Equal(fullLines.Skip(1).Select(l => string.Join(' ', Words(l).Take(4))), "the same name, id, pid and status");

        var ping = await home.OkAsync("ping");
        ping.Out.Should().Be((await home.RunFullAsync("ping")).Out).And.StartWith("pong: daemon pid ");
    }

    [Fact]
    public async Task Without_nk_full_nk_still_answers_status_and_ping_and_says_clearly_what_is_missing()
    {
        // nk alone in a folder of its own: what it answers it answered itself; for the rest it needs nk-full.
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("w", "worker.js"));
        await home.OkAsync("start", config);
        var alone = Path.Combine(home.Configs, "nk-alone");
        Directory.CreateDirectory(alone);
        // (NativeAOT: nk is the one file.)
        File.Copy(Repo.Nk, Path.Combine(alone, "nk"));
        File.SetUnixFileMode(Path.Combine(alone, "nk"), (UnixFileMode)0b111_101_101);

        var status = await home.RunWithAsync([Path.Combine(alone, "nk")], "status", "--json");
        status.Code.Should().Be(0, status.ToString());
        JsonSerializer.Deserialize(status.Out, ProtocolJson.Default.ListInstanceInfo)!.Should().ContainSingle(i => i.Name == "w" && i.Status == "online");
        (await home.RunWithAsync([Path.Combine(alone, "nk")], "ping")).Out.Should().StartWith("pong");

        var other = await home.RunWithAsync([Path.Combine(alone, "nk")], "describe", "w");
        other.Code.Should().Be(127, other.ToString());
        other.Out.Should().BeEmpty();
        other.Err.Should().Be($"nk: cannot run {Path.Combine(alone, "nk-full")}: No such file or directory (nk-full must sit beside nk)\n");
    }

    [Fact]
    public async Task Errors_help_and_a_missing_daemon_go_through_nk_full_with_its_words_and_exit_codes()
    {
        await using var home = new TestHome();

        // No daemon yet: nk-full starts one, as for any other command.
        var first = await home.RunAsync("status");
        first.Code.Should().Be(0, first.ToString());
        first.Err.Should().Contain("no daemon was running; started one");
        first.Out.Should().Contain("no apps");

        foreach (var args in new[] { new[] { "status", "nosuch" }, new[] { "ls", "--json", "nosuch" }, new[] { "status", "--help" }, new[] { "ping", "extra" }, new[] { "status", "--jsn" } })
        {
            var viaNk = await home.RunAsync(args);
            var direct = await home.RunFullAsync(args);
            viaNk.Should().Be(direct, $"nk {string.Join(' ', args)} is nk-full's answer");
        }
        (await home.RunAsync("status", "nosuch")).Should().Match<NkResult>(r => r.Code == 1 && r.Err == "nk: unknown app \"nosuch\": no app is loaded (run nk start CONFIG)\n");
        (await home.RunAsync("status", "--help")).Out.Should().Contain("nk status [<names>...] [options]", "help names the command people type, not nk-full");
    }

    [Fact]
    public async Task Other_commands_become_nk_full_in_the_same_process()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("w", "worker.js", "env = { TICK_MS = \"100\" }"));
        await home.OkAsync("start", config);
        // A raw Process, not TestHome's runner: the test reads its output and its /proc while it runs.
        var psi = new ProcessStartInfo(Repo.Nk, ["logs", "w", "--follow", "--lines", "0", "--out"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.Environment["NODEKEEPER_HOME"] = home.Home;
        using var follower = Process.Start(psi)!;
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            (await follower.StandardOutput.ReadLineAsync(cts.Token)).Should().Contain("job", "nk-full follows the log");
            var exe = new FileInfo($"/proc/{follower.Id}/exe").LinkTarget;
            exe.Should().Be(Repo.NkFull, "nk exec'd nk-full: the pid its parent knows is the one that runs the command");
        }
        finally
        {
            follower.Kill();
            await follower.WaitForExitAsync();
        }
    }
}

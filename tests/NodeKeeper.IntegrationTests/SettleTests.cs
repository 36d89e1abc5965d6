using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.IntegrationTests;

/// <summary>Requests with wait_ms: the daemon answers once the instances they touched have settled, or at the deadline.</summary>
public sealed class SettleTests
{
    /// <summary>A raw control connection: one request line, one response line.</summary>
    private sealed class Raw : IAsyncDisposable
    {
        private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        private NetworkStream? _stream;
        private StreamReader? _reader;

        public static async Task<Raw> ConnectAsync(TestHome home)
        {
            var raw = new Raw();
            await raw._socket.ConnectAsync(new UnixDomainSocketEndPoint(Path.Combine(home.Home, "nk.sock")));
            raw._stream = new NetworkStream(raw._socket, ownsSocket: true);
            raw._reader = new StreamReader(raw._stream);
            return raw;
        }

        public async Task<Response> SendAsync(string json)
        {
            await _stream!.WriteAsync(System.Text.Encoding.UTF8.GetBytes(json + "\n"));
            var line = await _reader!.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            return JsonSerializer.Deserialize(line!, ProtocolJson.Default.Response)!;
        }

        public async ValueTask DisposeAsync()
        {
            _reader?.Dispose();
            if (_stream is not null) await _stream.DisposeAsync();
            _socket.Dispose();
        }
    }

    [Fact]
    public async Task A_start_with_wait_ms_answers_once_the_app_is_online_and_without_it_at_once()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("rm", "ready-message.js",
            $"port = {FreePort.Next()}\nready = \"message\"\nenv = {{ READY_AFTER_MS = \"1500\" }}"));
        await home.OkAsync("start", config);
        await home.OkAsync("stop", "rm");
        await using var raw = await Raw.ConnectAsync(home);

        var clock = Stopwatch.StartNew();
        var r = await raw.SendAsync("{\"id\":1,\"cmd\":\"start\",\"names\":[\"rm\"],\"wait_ms\":30000}");

        r.Ok.Should().BeTrue(r.Error);
        clock.Elapsed.Should().BeGreaterThan(TimeSpan.FromSeconds(1.2), "the app says it is ready 1.5 s after it listens");
        r.Failures.Should().BeEmpty();
        r.Instances.Should().ContainSingle(i => i.Name == "rm").Which.Status.Should().Be("online");

        // An older client asks without wait_ms: the answer comes at once, with what it touched and nothing more.
        await home.OkAsync("stop", "rm");
        var now = await raw.SendAsync("{\"id\":2,\"cmd\":\"start\",\"names\":[\"rm\"]}");
        now.Ok.Should().BeTrue(now.Error);
        now.Touched.Should().ContainSingle(t => t.Name == "rm");
        now.Failures.Should().BeNull();
        now.Instances.Should().BeNull();
    }

    [Fact]
    public async Task A_restart_of_a_crashing_app_answers_with_its_failure()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(
            TestHome.App("web", "http-server.js", $"port = {FreePort.Next()}\nhost = \"127.0.0.1\"") +
            // Ready only once it listens, which it never does: it crashes first, every time.
            TestHome.App("crash", "crasher.js", $"port = {FreePort.Next()}\nready = \"listen\"\nenv = {{ CRASH_AFTER_MS = \"300\" }}"));
        await home.OkAsync("start", config, "--no-wait");
        await using var raw = await Raw.ConnectAsync(home);

        var r = await raw.SendAsync("{\"id\":1,\"cmd\":\"restart\",\"names\":[\"all\"],\"wait_ms\":30000}");

        r.Ok.Should().BeTrue(r.Error);
        r.Failures.Should().ContainSingle().Which.Should().MatchRegex(@"^crash:0 is (backoff|errored), last exit: crash \(code 1\) ");
        r.Instances.Should().Contain(i => i.Name == "web" && i.Status == "online");

        var cli = await home.RunAsync("restart", "crash");
        cli.Code.Should().Be(1, cli.ToString());
        cli.Err.Should().Contain("nk: crash:0 is ").And.Contain("(see nk logs crash --err, nk describe crash)")
            .And.Contain("nk: did not become ready: crash");
    }

    [Fact]
    public async Task Status_is_answered_while_a_wait_is_in_progress_and_the_deadline_ends_the_wait()
    {
        await using var home = new TestHome();
        // It never listens: not ready until listen_timeout, long after the wait's deadline.
        var config = home.WriteConfig(TestHome.App("mute", "worker.js", $"port = {FreePort.Next()}\nlisten_timeout = \"30s\""));
        await home.OkAsync("start", config, "--no-wait");
        await using var waiting = await Raw.ConnectAsync(home);
        await using var other = await Raw.ConnectAsync(home);

        var clock = Stopwatch.StartNew();
        var restart = waiting.SendAsync("{\"id\":1,\"cmd\":\"restart\",\"names\":[\"mute\"],\"wait_ms\":4000}");
        var status = await other.SendAsync("{\"id\":2,\"cmd\":\"status\"}");

        status.Ok.Should().BeTrue();
        restart.IsCompleted.Should().BeFalse("the restart waits for its instance while status is answered");
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(3));
        var r = await restart;
        r.Ok.Should().BeTrue(r.Error);
        clock.Elapsed.Should().BeGreaterThan(TimeSpan.FromSeconds(3.5));
        r.Failures.Should().Equal("mute:0 is still not ready after 4s");
        r.Instances.Should().ContainSingle().Which.Status.Should().Be("starting");
    }

    [Fact]
    public async Task Describe_of_several_apps_answers_them_all_at_once()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("a", "worker.js") + TestHome.App("b", "worker.js"));
        await home.OkAsync("start", config);
        await using var raw = await Raw.ConnectAsync(home);

        var all = await raw.SendAsync("{\"id\":1,\"cmd\":\"describe\"}");
        all.Apps!.Select(a => a.Name).Should().Equal("a", "b");
        all.App.Should().BeNull();
        var one = await raw.SendAsync("{\"id\":2,\"cmd\":\"describe\",\"names\":[\"b\"]}");
        one.App!.Name.Should().Be("b");

        var describeAll = await home.RunAsync("describe", "all");
        describeAll.Code.Should().Be(1);
        describeAll.Err.Should().Contain("describe takes exactly one app name");
        var logs = await home.OkAsync("logs", "--lines", "1", "--out");
        logs.Err.Should().Contain("a.out.log").And.Contain("b.out.log");
    }

    /// <summary>
    /// `nk reload` is one round trip: the daemon reads each app's config file again itself (reread), reloads, and
    /// answers once the new instances are online. A config that has gone wrong reloads nothing, and the answer says
    /// what is wrong at file:line:col, as `nk start` would.
    /// </summary>
    [Fact]
    public async Task A_reload_reads_the_config_in_the_daemon_and_a_wrong_one_reloads_nothing()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        string App(string env) => TestHome.App("web", "http-server.js", $"port = {port}\nhost = \"127.0.0.1\"\nenv = {{ COLOR = \"{env}\" }}");
        var config = home.WriteConfig(App("blue"));
        await home.OkAsync("start", config);
        var before = (await home.InstanceAsync("web")).Pid;
        await using var raw = await Raw.ConnectAsync(home);

        File.WriteAllText(config, App("green"));
        var r = await raw.SendAsync("{\"id\":1,\"cmd\":\"reload\",\"names\":[\"web\"],\"reread\":true,\"wait_ms\":30000}");

        r.Ok.Should().BeTrue(r.Error);
        r.Failures.Should().BeEmpty();
        r.Instances.Should().ContainSingle(i => i.Name == "web").Which.Pid.Should().NotBe(before, "the app was reloaded");
        (await home.DescribeAsync("web")).Env["COLOR"].Should().BeNull("values are hidden without --show-env");
        (await home.OkAsync("describe", "web", "--json", "--show-env")).Out.Should().Contain("green", "the daemon read the file again");

        File.WriteAllText(config, App("red") + "\ninstances = \"two\"\n");
        var bad = await raw.SendAsync("{\"id\":2,\"cmd\":\"reload\",\"names\":[\"web\"],\"reread\":true,\"wait_ms\":30000}");

        bad.Ok.Should().BeFalse();
        bad.ConfigErrors.Should().NotBeNullOrEmpty().And.OnlyContain(l => l.StartsWith(config + ":"), "each error at file:line:col");
        (await home.InstanceAsync("web")).Pid.Should().Be(r.Instances!.Single(i => i.Name == "web").Pid, "nothing was reloaded");
        var cli = await home.RunAsync("reload", "web");
        cli.Code.Should().Be(2, "nk reload says a wrong config as nk start does");
        cli.Err.Should().Contain(config + ":");
    }
}

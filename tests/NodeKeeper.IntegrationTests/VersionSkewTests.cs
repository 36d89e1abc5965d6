using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.IntegrationTests;

/// <summary>
/// A CLI newer than its daemon: every command the daemon knows works, and what it does not know is said. The older
/// daemon is a real peer on the home's socket answering as a daemon of version 0.0.9 answers: it knows status and
/// restart, ignores the request fields it does not know, and has never heard of `update`.
/// </summary>
public sealed class VersionSkewTests
{
    private sealed class OlderDaemon : IAsyncDisposable
    {
        private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _serving;

        public OlderDaemon(string home)
        {
            _listener.Bind(new UnixDomainSocketEndPoint(Path.Combine(home, "nk.sock")));
            _listener.Listen(16);
            _serving = Task.Run(ServeAsync);
        }

        private async Task ServeAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket client;
                try { client = await _listener.AcceptAsync(_stop.Token); }
                catch (OperationCanceledException) { return; }
                _ = Task.Run(async () =>
                {
                    using var _ = client;
                    await using var stream = new NetworkStream(client);
                    using var reader = new StreamReader(stream);
                    while (await reader.ReadLineAsync() is { } line)
                    {
                        using var doc = JsonDocument.Parse(line);
                        var id = doc.RootElement.GetProperty("id").GetInt32();
                        var cmd = doc.RootElement.GetProperty("cmd").GetString();
                        // What an older daemon knows of a request: these fields; the rest it ignores, and says so.
                        var ignored = doc.RootElement.EnumerateObject()
                            .Where(p => p.Value.ValueKind is not (JsonValueKind.Null or JsonValueKind.False))
                            .Select(p => p.Name).Where(n => n is not ("id" or "cmd" or "names" or "prune" or "show_env" or "force")).ToList();
                        var answer = cmd switch
                        {
                            "version" or "ping" => new Response { Id = id, Ok = true, Version = "0.0.9", Pid = Environment.ProcessId },
                            "status" => new Response { Id = id, Ok = true, Version = "0.0.9", Instances = [] },
                            "restart" => new Response { Id = id, Ok = true, Version = "0.0.9", Touched = [], IgnoredFields = ignored },
                            _ => Response.Fail(id, $"unknown command \"{cmd}\"") with { Version = "0.0.9" },
                        };
                        await stream.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(answer, ProtocolJson.Default.Response));
                        await stream.WriteAsync("\n"u8.ToArray());
                    }
                });
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Dispose();
            try { await _serving; } catch (OperationCanceledException) { }
        }
    }

    [Fact]
    public async Task A_newer_nk_works_with_an_older_daemon_and_says_what_it_does_not_know()
    {
        await using var home = new TestHome();
        Directory.CreateDirectory(home.Home);
        File.SetUnixFileMode(home.Home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await using var older = new OlderDaemon(home.Home);

        var version = await home.RunAsync("version");
        version.Code.Should().Be(0, version.ToString());
        version.Out.Should().Contain("daemon 0.0.9").And.Contain("run nk update");

        var status = await home.RunAsync("status");
        status.Code.Should().Be(0, status.ToString());
        status.Err.Should().Contain("the daemon runs 0.0.9 and this nk is").And.Contain("nk update");

        var restart = await home.RunAsync("restart", "web");
        restart.Code.Should().Be(0, restart.ToString());
        restart.Err.Should().Contain("the daemon (0.0.9) does not know wait_ms and ignored it: it is older than this nk");

        var update = await home.RunAsync("update");
        update.Code.Should().Be(1);
        update.Err.Should().Contain("the daemon (version 0.0.9) does not know `update`: it is older than this nk")
            .And.Contain("nk save && nk kill && nk resurrect");
    }
}

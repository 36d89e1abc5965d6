using System.Net.Sockets;
using System.Text;

namespace NodeKeeper.IntegrationTests;

public sealed class ControlSocketTests
{
    [Fact]
    public async Task Socket_is_owner_only_and_another_uid_is_refused()
    {
        await using var home = new TestHome();
        await home.OkAsync("ping").ContinueWith(_ => Task.CompletedTask); // no daemon yet: ping never starts one
        (await home.RunAsync("ping")).Code.Should().Be(1);
        await home.OkAsync("status");
        var sock = Path.Combine(home.Home, "nk.sock");
        File.GetUnixFileMode(sock).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.GetUnixFileMode(home.Home).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        // nobody's nk does not even try root's home, with file permissions bypassed (CAP_DAC_OVERRIDE) or not: the
        // daemon's own refusal of such a peer is proved by raw peers (AuthorityTests).
        foreach (var prefix in new[] { new[] { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups" },
                     ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=+dac_override", "--ambient-caps=+dac_override"] })
        {
            var r = await home.RunAsUserAsync(prefix, "status");
            r.Code.Should().Be(1, r.ToString());
            r.Err.Should().Contain($"NODEKEEPER_HOME {home.Home} belongs to another user (not uid 65534)");
        }
        (await home.RunAsync("ping")).Code.Should().Be(0, "the daemon serves on");
    }

    [Fact]
    public async Task Malformed_oversized_and_unknown_requests_get_errors_and_the_daemon_serves_on()
    {
        await using var home = new TestHome();
        await home.OkAsync("status");
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await s.ConnectAsync(new UnixDomainSocketEndPoint(Path.Combine(home.Home, "nk.sock")));
        await using var stream = new NetworkStream(s);
        using var reader = new StreamReader(stream);

        async Task<string> Send(byte[] line)
        {
            await stream.WriteAsync(line);
            return (await reader.ReadLineAsync())!;
        }
        (await Send("this is not json\n"u8.ToArray())).Should().Contain("\"ok\":false").And.Contain("malformed");
        (await Send("{\"id\":7,\"cmd\":\"explode\"}\n"u8.ToArray())).Should().Contain("unknown command");
        (await Send([0xff, 0xfe, 0x80, (byte)'\n'])).Should().Contain("\"ok\":false");
        (await Send("{\"id\":8,\"cmd\":\"ping\"}\n"u8.ToArray())).Should().Contain("\"ok\":true");
        // A newer client's fields are named back, and every answer says which daemon gave it.
        var ignored = await Send("{\"id\":9,\"cmd\":\"status\",\"names\":[],\"teleport\":true,\"canary\":{\"percent\":10},\"off\":false,\"none\":null}\n"u8.ToArray());
        ignored.Should().Contain("\"ok\":true").And.Contain("\"ignored_fields\":[\"canary\",\"teleport\"]").And.Contain("\"version\":\"");

        var huge = Encoding.ASCII.GetBytes(new string('x', 2 * 1024 * 1024));
        try
        {
            await stream.WriteAsync(huge);
            (await reader.ReadLineAsync()).Should().Contain("longer than");
        }
        catch (IOException) { /* the daemon may close before reading everything: also fine */ }
        (await home.RunAsync("ping")).Code.Should().Be(0);
    }

    [Fact]
    public async Task A_second_daemon_on_the_same_home_refuses_to_start()
    {
        await using var home = new TestHome();
        await home.OkAsync("status");
        var second = await home.RunAsync("daemon");
        second.Code.Should().Be(1);
        second.Err.Should().Contain("already runs");
        (await home.RunAsync("ping")).Code.Should().Be(0);
    }
}

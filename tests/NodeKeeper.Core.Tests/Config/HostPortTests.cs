using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Tests.Config;

public class HostPortTests
{
    [Theory]
    [InlineData("127.0.0.1:9615", "127.0.0.1", 9615)]
    [InlineData("localhost:1", "localhost", 1)]
    [InlineData("metrics-host.internal:65535", "metrics-host.internal", 65535)]
    [InlineData("[::1]:9615", "::1", 9615)]
    [InlineData("[::]:80", "::", 80)]
    public void Host_and_port(string address, string host, int port)
    {
        HostPort.TryParse(address, out var h, out var p, out var error).Should().BeTrue();
        (h, p, error).Should().Be((host, port, (string?)null));
    }

    [Theory]
    [InlineData("9615")]
    [InlineData(":9615")]
    [InlineData("localhost:")]
    [InlineData("localhost:http")]
    [InlineData("::1:9615")]
    [InlineData("[::1:9615")]
    [InlineData("[127.0.0.1]:9615")]
    [InlineData("my host:9615")]
    [InlineData("localhost:+80")]
    public void Not_host_and_port(string address)
    {
        HostPort.TryParse(address, out _, out _, out var error).Should().BeFalse();
        error.Should().Be("must be \"host:port\", such as \"127.0.0.1:9615\"");
    }

    [Theory]
    [InlineData("127.0.0.1:0")]
    [InlineData("127.0.0.1:65536")]
    [InlineData("127.0.0.1:000080")]
    public void Port_out_of_range(string address)
    {
        HostPort.TryParse(address, out _, out _, out var error).Should().BeFalse();
        error.Should().Be("port must be between 1 and 65535");
    }
}

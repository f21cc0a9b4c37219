/** aria2c as a plain standard client: no DHT, local discovery or peer exchange, so only the tracker names peers. */
// aria2c is a Debian package that .ci/run installs: without it these tests fail rather than skip.
export const ARIA2 = ['--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false', '--enable-peer-exchange=false',
  '--file-allocation=none', '--summary-interval=0', '--console-log-level=warn', '--listen-port=47100-47199']

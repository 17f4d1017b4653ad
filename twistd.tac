# twistd -ny twistd.tac: the embedded default server. The state home is $SENDEMODUL_HOME (default ./var).
from twisted.application.service import Application
from twisted.logger import ILogObserver

from sendemodul import config, logs, service

cfg = config.load()
application = Application("sendemodul")
application.setComponent(ILogObserver, logs.make_observer(cfg))
service.makeService(cfg).setServiceParent(application)

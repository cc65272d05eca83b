config_opts['dist'] = 'el6'
config_opts['releasever'] = '6'
config_opts['package_manager'] = 'yum'
config_opts['yum.conf'] = """
[main]
keepcache=1
[base]
name=CentOS 6 base (a stand-in of the vault)
baseurl=http://127.0.0.1:9/centos-6/
"""

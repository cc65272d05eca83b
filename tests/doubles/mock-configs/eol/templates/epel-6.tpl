include('eol/templates/centos-6.tpl')

config_opts['chroot_setup_cmd'] = 'install @buildsys-build'
config_opts['yum.conf'] += """
[epel]
name=EPEL 6 (a stand-in of the stock mirrorlist)
baseurl=http://127.0.0.1:9/epel-6/
gpgcheck=1
"""
